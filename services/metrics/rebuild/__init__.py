"""`jobcast rebuild metrics`: the read model rebuilt from the topics, beside the live one."""
