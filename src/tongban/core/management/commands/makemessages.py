"""makemessages without msgmerge's fuzzy guesses: a new string must get a real translation, never a
neighbour's (a fuzzy entry is skipped at run time and would show Chinese on the English pages)."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]
