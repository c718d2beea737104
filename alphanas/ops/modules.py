"""Small nn.Modules that some ops need and torch lacks.

This module imports nothing but torch: :mod:`alphanas.export` copies the
source of the classes a program uses into the exported file, so that the
exported model stands alone.
"""

