"""Every lab action, once per backend: a run directory on a workstation (:mod:`.rundir`) and a
cluster reached as the caller (:mod:`.cluster`), behind one interface (:mod:`.base`). The command
line and the web interface both call it, so an action answers the same way wherever it is asked."""
