"""VICIdial mode: supervisors, permissions, shifts and agents from VICIdial's own
tables, and coachd sessions in VICIdial's real-time monitoring log."""
