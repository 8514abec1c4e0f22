"""E-mail: messages in both languages built from templates and the message catalogues
(``compose``), and an SMTP client that turns the server's answers into delivery outcomes
(``smtp``). The senders over them are ``workers/deliver_email.py``; the design is
``docs/design/0014-email.md``."""
