from oncofed.cli import app

app(prog_name="oncofed")
