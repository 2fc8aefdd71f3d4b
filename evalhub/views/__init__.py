"""Server-rendered pages. Short handlers: parse, select, call one service, render."""
