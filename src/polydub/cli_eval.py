"""`polydub eval DIR --to LANG`: a Typer command (registered by polydub.cli)."""

from __future__ import annotations

from pathlib import Path

import typer


def eval_command(
    folder: Path = typer.Argument(..., exists=True, help="folder of media files (or one file) to dub"),
    to: str = typer.Option(..., "--to", help="target language, e.g. es"),
    output: Path = typer.Option(Path("eval-out"), "-o", "--output", help="where dubs and eval.csv/json go"),
) -> None:
    """Dub every media file in FOLDER and print one quality table (also written as CSV and JSON)."""
    from rich.console import Console

    from polydub.pipeline.evaluate import evaluate, print_table, totals, write_rows

    console = Console()
    rows = evaluate(folder, to, output)
    if not rows:
        console.print(f"[yellow]no media files found in {folder}[/yellow]")
        raise typer.Exit(1)
    table_rows = rows + [totals(rows)] if len(rows) > 1 else rows
    print_table(table_rows, console, title=f"polydub eval → {to}")
    csv_path, json_path = write_rows(rows, output)
    console.print(f"written: {csv_path}  {json_path}  (per file: {output}/<name>.{to}/report.html)")
    if any(r.get("error") for r in rows):
        raise typer.Exit(1)
