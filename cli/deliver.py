"""CLI: ``shopwatch digest``, ``alerts`` and ``outbox``, the delivery stage on demand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.context import AppContext
from cli.output import Format, err_console, print_json, print_table
from config.model import Settings
from delivery.alerts import evaluate_alerts
from delivery.digest import make_digest, queue_digest, window_for
from delivery.model import Digest
from delivery.outbox import FlushReport, default_sender, flush_outbox
from delivery.send import private_url
from shopwatch.errors import DeliveryError, UsageError
from shopwatch.when import parse_when
from storage.engine import Store
from storage.outbox import list_alerts, list_deliveries, outbox_counts, requeue_failed


def smtp_password(app: AppContext, settings: Settings) -> str | None:
    """The SMTP password, from the environment variable ``[smtp] password_env`` names."""
    return app.env.get(settings.smtp.password_env) or None


def flush(app: AppContext, settings: Settings, store: Store) -> FlushReport:
    """Send what the outbox holds that is due, with the configured SMTP login."""
    return flush_outbox(store, settings, default_sender(settings, smtp_password(app, settings)))


def _flush_line(report: FlushReport) -> str:
    line = f"outbox: {report.sent} sent, {report.retrying} to retry, {report.failed} failed"
    if report.deferred:
        line += f", {report.deferred} deferred (their receiver did not answer)"
    return line


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise UsageError(f"--date: {value!r} is not a date (YYYY-MM-DD)") from exc


def _write_out(out: Path, digest: Digest, settings: Settings) -> None:
    from delivery.chart import mentions_chart
    from delivery.message import digest_message, standalone_html

    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".eml"):
        raise UsageError(f"--out: {out} must end in .html (the page) or .eml (the whole message)")
    chart = mentions_chart(digest.chart_days, digest.mentions) if digest.mentions else None
    try:
        if suffix == ".eml":
            recipients = list(settings.digest.recipients) or ["undisclosed-recipients:;"]
            message = digest_message(
                digest, sender=settings.digest.sender, recipients=recipients, chart_png=chart
            )
            out.write_bytes(message.as_bytes())
        else:
            out.write_text(standalone_html(digest, chart), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out: cannot write {out}: {exc.strerror or exc}") from exc


def digest(
    ctx: typer.Context,
    day: Annotated[
        str | None,
        typer.Option("--date", help="That calendar day in [digest] timezone (YYYY-MM-DD)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Start the window here instead (date or ISO date-time)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the digest: x.html the page, x.eml the message.",
            dir_okay=False,
        ),
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="Email it to [digest] recipients.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Send even if this day's digest was sent already.")
    ] = False,
) -> None:
    """Build the digest of a day (default: the last 24 hours); print, write or send it.

    Without --out or --send the plain-text digest is printed.

    Example: shopwatch digest --date 2026-11-25 --out digest.html --send
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    zone = settings.digest.timezone
    window = window_for(
        zone,
        now=datetime.now(UTC),
        day=_parse_day(day),
        since=parse_when(since, option="--since"),
    )
    store = app.store(settings, create=False)
    try:
        built = make_digest(store, settings.digest, window)
        if out is not None:
            _write_out(out, built, settings)
            typer.echo(f"wrote {out} ({built.subject})", err=True)
        if send:
            _send(app, settings, store, built, force=force)
        elif out is None:
            from delivery.render import render_text

            typer.echo(render_text(built))
    finally:
        store.close()


def _send(app: AppContext, settings: Settings, store: Store, built: Digest, *, force: bool) -> None:
    queued = queue_digest(store, settings.digest, built, force=force)
    if queued.status == "already-sent":
        typer.echo(
            f"the digest for {built.day} to these recipients was already made at "
            f"{queued.created_at:%Y-%m-%d %H:%M} UTC ({queued.subject}); nothing sent "
            "(--force sends it again)",
            err=True,
        )
        return
    report = flush(app, settings, store)
    typer.echo(
        f"{queued.subject}: queued for {len(settings.digest.recipients)} recipient(s)", err=True
    )
    typer.echo(_flush_line(report), err=True)
    if report.retrying:
        raise DeliveryError(
            f"{report.errors[0]} (kept in the outbox: `shopwatch run` or "
            "`shopwatch outbox --flush` retries it)"
        )
    if report.failed:
        raise DeliveryError(f"{report.errors[0]} (not retried; see `shopwatch outbox`)")
    if report.notes:
        raise DeliveryError(f"sent, but {report.notes[0]}")


ALERT_COLUMNS = ["rule", "entity", "outlets", "title", "sentence", "url"]


def _alert_row(alert: Any) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "entity": alert.entity,
        "title": alert.title,
        "sentence": alert.sentence,
        "reason": alert.reason,
        "outlets": alert.outlets,
        "source": alert.source,
        "url": alert.url,
        "story_id": alert.story_id,
        "article_id": alert.article_id,
    }


def alerts(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would fire; record and send nothing.")
    ] = False,
    history: Annotated[
        bool, typer.Option("--history", help="List alerts that fired and where they went.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows of --history.")] = 50,
    output: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """Check the [[alerts]] rules against newly enriched articles and deliver what fires.

    Each rule fires once per story: a syndicated copy or a re-crawl does not alert again.

    Example: shopwatch alerts --dry-run
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings, create=False)
    try:
        if history:
            _history(store, limit, output)
            return
        if not settings.alerts:
            raise UsageError("no alert rules: add [[alerts]] to the configuration")
        report = evaluate_alerts(store, settings, dry_run=dry_run)
        rows = [_alert_row(a) for a in report.fired]
        flushed = None if dry_run else flush(app, settings, store)
    finally:
        store.close()
    if output is Format.json:
        print_json(rows)
    elif rows:
        print_table(rows, ALERT_COLUMNS, title="would fire" if dry_run else "fired")
    verb = "would fire" if dry_run else "fired"
    line = f"{report.checked} article(s) checked, {len(rows)} alert(s) {verb}"
    if report.repeated:
        line += f", {report.repeated} already fired before"
    typer.echo(line, err=True)
    if flushed is not None:
        typer.echo(_flush_line(flushed), err=True)


def _history(store: Store, limit: int, output: Format) -> None:
    with store.read() as session:
        fired = list_alerts(session, limit=limit)
        ids = [a.id for a in fired if a.id is not None]
        deliveries = list_deliveries(session, kind="alert", refs=ids, limit=limit * 20)
    where: dict[int, list[dict[str, Any]]] = {}
    for d in deliveries:
        where.setdefault(d.ref or 0, []).append(
            {
                "channel": private_url(d.channel),
                "status": d.status,
                "attempts": d.attempts,
                "sent_at": d.sent_at,
                "last_error": d.last_error,
            }
        )
    rows = [
        {
            **a.model_dump(exclude={"id"}),
            "deliveries": where.get(a.id or 0, []),
            "delivered": ", ".join(
                f"{x['channel']} {x['status']}" for x in where.get(a.id or 0, [])
            ),
        }
        for a in fired
    ]
    if output is Format.json:
        print_json(rows)
    elif not rows:
        typer.echo("no alert has fired yet", err=True)
    else:
        print_table(rows, ["fired_at", "rule", "entity", "outlets", "title", "delivered"])


def outbox(
    ctx: typer.Context,
    do_flush: Annotated[bool, typer.Option("--flush", help="Send what is due now.")] = False,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Give deliveries that failed for good another try."),
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="How many deliveries to list.")] = 20,
    output: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """List the outbox of digests and alerts (pending, sent, failed), or flush it.

    Example: shopwatch outbox --flush
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings, create=False)
    try:
        if retry_failed:
            with store.write() as session:
                again = requeue_failed(session, datetime.now(UTC))
            typer.echo(
                f"{again} failed deliver{'y' if again == 1 else 'ies'} queued again", err=True
            )
        report = flush(app, settings, store) if do_flush or retry_failed else None
        with store.read() as session:
            counts = outbox_counts(session)
            rows = [
                {
                    "id": d.id,
                    "kind": d.kind,
                    "channel": "smtp" if d.channel == "smtp" else private_url(d.channel),
                    "status": d.status,
                    "attempts": d.attempts,
                    "next_attempt_at": d.next_attempt_at,
                    "sent_at": d.sent_at,
                    "subject": d.subject,
                    "last_error": d.last_error,
                }
                for d in list_deliveries(session, limit=limit)
            ]
    finally:
        store.close()
    if output is Format.json:
        print_json({"counts": counts, "deliveries": rows})
    else:
        if rows:
            print_table(
                rows, ["id", "kind", "channel", "status", "attempts", "subject", "last_error"]
            )
        err_console().print(
            ", ".join(f"{n} {status}" for status, n in counts.items()), markup=False
        )
    if report is not None:
        typer.echo(_flush_line(report), err=True)


def register(app: typer.Typer) -> None:
    app.command()(digest)
    app.command()(alerts)
    app.command()(outbox)
