"""The names of the commands a process sends to MongoDB, as the driver reports them (pymongo command monitoring):
how the tests and bench/datapath count round trips on the wire."""

from pymongo import monitoring


class CommandNames(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
