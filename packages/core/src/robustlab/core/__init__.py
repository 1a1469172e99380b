"""robustlab-core: the shared core of robustlab.

Sub-packages (dependencies point one way, left depends on right)::

    cli > repro/report > eval > train > attacks | models | data > registry | utils
"""

__version__ = "0.1.0"
