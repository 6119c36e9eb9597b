"""The editors' sandbox (`main.py sandbox`), as a process and in Chromium."""
