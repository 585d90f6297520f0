"""``python -m kubelite.cli`` is ``kl``."""

from kubelite.cli.main import app

app(prog_name="kl")
