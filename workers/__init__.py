"""Workers: one base loop over the work queue, one module per job."""
