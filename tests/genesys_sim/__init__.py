"""A Genesys Cloud simulator: the parts of the API this job uses, over real HTTP on loopback."""

from genesys_sim.cli import main
from genesys_sim.config import FaultConfig, SimConfig
from genesys_sim.server import SimulatorServer

__all__ = ["FaultConfig", "SimConfig", "SimulatorServer", "main"]
