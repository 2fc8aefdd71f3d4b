"""feedback reads. What raters and agents see comes only through ``choice`` and ``workbench``,
which check ownership and strip every hint of the source model."""
