"""`probe explore`: the local web page for token-level distributions."""
from __future__ import annotations

import click

INSTALL_HINT = 'probe explore needs the explorer\'s web server: pip install -e ".[explore]"'


@click.command()
@click.option("--model", "-m", "models", multiple=True,
              help="embedded:base | embedded:aligned | a registry name | local dir | .gguf | hub id; give two to "
                   "see them side by side (none: load them from the page)")
@click.option("--format", "fmt", default=None, type=click.Choice(["raw", "tulu", "llama3-instruct", "chat"]),
              help="the page's first prompt format (default: the model's registry format, else raw)")
@click.option("--dtype", default=None, help="fp32 | bf16 | fp16 (default fp32 on CPU, bf16 on GPU)")
@click.option("--device", default=None, help="cpu | cuda | cuda:1 (default: cuda if available)")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (the default answers this machine only)")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
def explore(models, fmt, dtype, device, host, port):
    """A local web page: a prompt's next-token distribution (click a token to go on), sampled
    continuations coloured by probability or entropy, exact answer probabilities with their token
    paths, two models side by side; export as JSON or an HTML snapshot."""
    from ..errors import UserError
    from ..progress import note
    try:
        import uvicorn

        from ..explore.app import create_app
        from ..explore.runner import ModelRunner
    except ImportError as exc:
        raise UserError(f"{INSTALL_HINT} ({exc.name} is missing)") from None
    from ..kernels.models.loading import load_model
    if len(models) > 2:
        raise UserError(f"probe explore shows at most two models side by side (got {len(models)})")

    def load(spec, log=note):
        return load_model(spec, fmt=fmt, dtype=dtype, device=device, log=log)
    sock = _bind(host, port)
    runners = []
    for spec in models:
        note(f"loading {spec}")
        lm = load(spec)
        if getattr(lm, "is_oracle", False):
            raise UserError("the uniform oracle has no next-token distribution to explore")
        runners.append(ModelRunner(lm))
    app = create_app(runners, load=load)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}/"
    click.echo(f"logitscope explore: {url}  (Ctrl-C to stop)")
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int):
    """The listening socket, bound before any model loads: a port in use is said at once."""
    import socket
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from ..errors import UserError
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
