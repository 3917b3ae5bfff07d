"""The change feed: the tailer of the change log and the Watch fan-out (``feed``), and compaction of old
revisions (``compaction``). The log's rows are written by the unit of work, in each write's own transaction
(``repository.change_log``); this package only reads, fans out and compacts them."""
