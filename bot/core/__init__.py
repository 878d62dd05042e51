"""Pure core: parsing, measuring, judging, planning and rendering; no I/O, env or clocks."""
