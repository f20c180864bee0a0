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
@click.option("--compile", "compile_step", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="sampled continuations on static slots with the compiled decode step (auto: on for CUDA)")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (the default answers this machine only; any other needs the token the "
                   "startup line prints in the URL)")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token", "need_token", is_flag=True,
              help="need the printed token on the loopback address too (other users of a shared machine reach it)")
def explore(models, fmt, dtype, device, compile_step, host, port, need_token):
    """A local web page: a prompt's next-token distribution (click a token to go on), sampled
    continuations coloured by probability or entropy, exact answer probabilities with their token
    paths, two models side by side; export as JSON or an HTML snapshot.

    It answers only requests to the address it listens on, from its own page (a page of another site
    gets a 403) or from programs such as curl; beyond the loopback address, only with its token."""
    from ..errors import UserError
    from ..progress import note
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UserError(f"{INSTALL_HINT} ({exc.name} is missing)") from None
    from ..kernels.models.loading import load_model
    if len(models) > 2:
        raise UserError(f"probe explore shows at most two models side by side (got {len(models)})")

    def load(spec, log=note):
        return load_model(spec, fmt=fmt, dtype=dtype, device=device, compile=compile_step, log=log)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]                     # [::1] as written in a URL: the address is ::1
    try:
        _serve(load, models, host, port, need_token)
    except KeyboardInterrupt:                 # the server stops on Ctrl-C, then raises it again
        raise KeyboardInterrupt(STOPPED) from None


STOPPED = "logitscope explore stopped"


def _serve(load, models, host, port, need_token):
    """Bind the port, load the models, say the URL (with the token where one is needed), serve until Ctrl-C."""
    import secrets
    import socket

    import uvicorn

    from ..errors import UserError
    from ..explore.app import create_app
    from ..explore.guard import ANY_ADDRESS, is_loopback
    from ..explore.runner import ModelRunner
    from ..progress import note
    sock = _bind(host, port)
    runners = []
    for spec in models:
        note(f"loading {spec}")
        lm = load(spec)
        if getattr(lm, "is_oracle", False):
            raise UserError("the uniform oracle has no next-token distribution to explore")
        runners.append(ModelRunner(lm))
    bound = sock.getsockname()[1]
    token = secrets.token_hex(24) if need_token or not is_loopback(host) else None
    app = create_app(runners, load=load, host=host, port=bound, token=token)
    shown = socket.gethostname() if host in ANY_ADDRESS else host
    url = f"http://{shown if ':' not in shown else f'[{shown}]'}:{bound}/" + (f"?token={token}" if token else "")
    click.echo(f"logitscope explore: {url}  (Ctrl-C to stop)")
    try:
        _server(uvicorn.Config(app, log_level="warning"), app.state.explorer).run(sockets=[sock])
    except KeyboardInterrupt:
        _leave(app.state.explorer)
        raise


def _leave(explorer, seconds: float = 2.0) -> None:
    """After Ctrl-C: the cancelled jobs end after the forward pass under way. A job thread still inside
    torch when the interpreter shuts down aborts the process ("terminate called without an active
    exception"), so wait a little for them, and if one is still busy, say the line and leave at once."""
    if not explorer.jobs.wait(seconds):
        import os
        _last_words()
        os._exit(130)


def _last_words() -> None:
    import sys
    sys.stdout.flush()
    sys.stderr.write(STOPPED + "\n")
    sys.stderr.flush()


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


def _server(config, explorer):
    """uvicorn's server for this explorer (uvicorn imported only when the command runs)."""
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopped by one Ctrl-C even while a job runs: the signal cancels every job
        and ends every wait for a model (`Explorer.stop`), so the requests in flight answer at once and
        uvicorn's graceful shutdown ends; the job threads (daemons, perhaps in the middle of a forward
        pass) are left to end with the process. A second Ctrl-C ends the process there and then."""

        def __init__(self, config, explorer):
            super().__init__(config)
            self.explorer = explorer

        def handle_exit(self, sig, frame):
            if self.should_exit:                      # uvicorn would force its way out with tracebacks
                import os
                _last_words()
                os._exit(130)
            self.explorer.stop()
            super().handle_exit(sig, frame)
    return Server(config, explorer)
