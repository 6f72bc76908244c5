"""Send an indication to every session subscribed to a topic."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from appws.layer.notify import notify
from appws.management.channel_layer import require_shared_layer


class Command(BaseCommand):
    help = (
        'Send MESSAGE (a JSON object with a string "mt") to every session subscribed to '
        "TOPIC, on every server process sharing the channel layer (a Redis layer: an "
        "in-memory layer cannot reach the server from this command's process)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("topic")
        parser.add_argument("message", help='JSON, e.g. \'{"mt": "NoteAdded", "id": 3}\'')

    def handle(self, *args: Any, **options: Any) -> None:
        require_shared_layer(
            "appws_notify", "call appws.notify() in the site's own code (a view, a handler)"
        )
        try:
            message = json.loads(options["message"])
        except json.JSONDecodeError as error:
            raise CommandError(f"MESSAGE is not valid JSON: {error}") from None
        try:
            notify(options["topic"], message)
        except (TypeError, ValueError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Sent {message.get('mt')} to topic {options['topic']!r}.")
