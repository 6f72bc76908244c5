"""``manage.py appws_services``: the App Services the site routes, and their handlers."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from appws.catalogue import ServiceEntry, services


class Command(BaseCommand):
    help = (
        "List the App Services routed by ASGI_APPLICATION: their Apps, WebSocket paths "
        "and message handlers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            entries = services()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps([asdict(entry) for entry in entries], indent=2))
            return
        if not entries:
            self.stdout.write(
                "The ASGI application routes no App Service: route one with "
                "appws.routing.service_urls() in a URLRouter."
            )
            return
        for number, entry in enumerate(entries):
            if number:
                self.stdout.write("")
            self._write_entry(entry)

    def _write_entry(self, entry: ServiceEntry) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(entry.path))
        if entry.doc:
            self.stdout.write(f"  {entry.doc}")
        self.stdout.write(f"  Apps:  {', '.join(entry.apps) or '-'}")
        self.stdout.write(f"  Paths: {', '.join('/' + path for path in entry.paths) or '-'}")
        if not entry.handlers:
            self.stdout.write("  No message handlers.")
            return
        self.stdout.write("  Handlers:")
        for handler in entry.handlers:
            name = f"{handler.api}:{handler.mt}" if handler.api else handler.mt
            needs = handler.permission or "any session"
            self.stdout.write(f"    {name} -> {handler.reply}  [{handler.mode}; {needs}]")
            summary = handler.doc.splitlines()[0] if handler.doc else ""
            if summary:
                self.stdout.write(f"      {summary}")
