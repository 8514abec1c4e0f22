"""Privacy (issue 21): the notice, consent, export, account deletion, retention."""
