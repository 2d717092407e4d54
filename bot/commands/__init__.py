"""Chat commands: the table (:mod:`bot.commands.table`), its rows
(:mod:`bot.commands.catalog`) and one module of handlers per subject."""
