"""``python -m genesys_sim``: run the simulator until interrupted."""

from genesys_sim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
