# Wires the board, the configuration and the app; everything else lives in dynevse.
from dynevse import hal, start

app = start.build(hal.start())    # the App, or the safe state with its reason; never raises
del start                         # boot's code leaves the heap
app.run()
