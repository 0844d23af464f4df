"""What a task is: the Task (task.py), its objective and metrics, and where its examples come from (benchmarks.py, own_files.py)."""
