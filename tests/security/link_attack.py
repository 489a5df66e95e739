"""The link attack on a sandbox's inputs, as shell an agent would run (shared by the dev-install
tests in ``tests/sandboxes/test_hostile_view.py`` and the wheel-install driver ``wheel_attacks.py``).

``PLANT targets``: swap ``data`` (and a file in it) and ``shared`` in the work dir for links
aimed at each host place in ``targets``. ``SEARCH canary``: look for any file named
``*canary*`` in the whole view, the canary's text under the fixed mounts, and the canary
through the planted links; prints ``FOUND <path>`` lines and, last, the number of canary
reads through the links (0 when nothing leaked). The host plants canaries named so.
"""

CANARY = "AAR-HOST-CANARY-5d1c"

# The agent's attack: every link aims at each host place in turn, through every input.
PLANT = r"""
set -u
targets="$1"
mv data data.orig 2>/dev/null; mkdir -p data
for t in $targets; do
  n=$(echo "$t" | tr '/' '_')
  ln -sfn "$t" "data/link$n"; ln -sfn "$t" "link$n"
done
ln -sfn "${targets%% *}" data/TASK.md
rm -rf shared 2>/dev/null; ln -sfn "${targets%% *}" shared
echo planted
"""
SEARCH = r"""
find / \( -path /proc -o -path /sys \) -prune -o -name '*canary*' -print 2>/dev/null | sed 's/^/FOUND /'
grep -rls "$1" /data /shared /work /tmp /etc 2>/dev/null | sed 's/^/FOUND /'
cat data/TASK.md data/link*/*canary* link*/*canary* shared/*canary* 2>/dev/null | grep -c "$1" || true
"""
