# Wires the board, the configuration and the app; everything else lives in dynevse.
from dynevse.app import main

main()
