"""Imported first by the files in this folder: the project's root on sys.path, then the CPU settings
that Paddle reads only when it loads (runtime/cpu_first.py)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path[1:1] = [os.path.join(ROOT, "scripts"), os.path.join(ROOT, "benchmarks")]  # demo_assets, bench_speed
from runtime.cpu_first import CPU_SETTINGS  # noqa: E402,F401  (needs ROOT on sys.path)
