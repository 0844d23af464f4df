"""Import this first in an entry point: Paddle reads the CPU settings of cpu_env only when it loads.

    from runtime.cpu_first import CPU_SETTINGS   # before anything imports paddle

CPU_SETTINGS is the line that runs log to say which settings are in force.
"""
from runtime import cpu_env

CPU_SETTINGS = cpu_env.configure()
