from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from operations.sharding import mongosh_commands, shard_steps


class Command(BaseCommand):
    help = (
        "Print the mongosh commands that shard the collections which grow with use (see operations/sharding.py), "
        "after checking that the database's indexes allow each one. Run them on a mongos once shards are added."
    )

    def handle(self, *args, **options):
        if connection.vendor != "mongodb":
            raise CommandError("shard_plan is for MongoDB: DATABASE_URL names another database")
        steps = shard_steps()
        refused = [f"{step.collection}: {problem}" for step in steps for problem in step.problems]
        if refused:
            # Printing commands MongoDB would refuse halfway through helps nobody: name what is in the way instead.
            raise CommandError("MongoDB would refuse to shard as planned:\n" + "\n".join(refused))
        for line in mongosh_commands(connection.settings_dict["NAME"], steps):
            self.stdout.write(line)
