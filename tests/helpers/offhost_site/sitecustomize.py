"""Arms the offhost tripwire (tests/helpers/offhost.py) in every Python process started with this
folder on PYTHONPATH: the address guard's tests start archiver that way."""

import offhost

offhost.install(arm=True)
