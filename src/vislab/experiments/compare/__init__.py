"""`vislab compare`: runs grouped by the settings that differ, and the tables that say whether a change helped.
The caller writes the report (vislab.compare, with report/)."""
