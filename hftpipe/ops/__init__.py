"""Operations: what runs a pipeline on a server (systemd units) and checks the host for it (doctor).

Above the runtime (it reads configs and placement), below the CLI; nothing in
the runtime imports it.
"""
