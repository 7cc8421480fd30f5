"""A local AWS Step Functions endpoint (AWS JSON 1.0 wire protocol) for activity workers."""

from fleet.emulator._emulator import Emulator
from fleet.emulator._options import EmulatorOptions
from fleet.emulator._stats import EmulatorStats
from fleet.emulator._thread import ThreadedEmulator

__all__ = ["Emulator", "EmulatorOptions", "EmulatorStats", "ThreadedEmulator"]
