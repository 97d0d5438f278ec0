#!/usr/bin/env bash
# The real TUI in a real terminal: scripts/local_session.py (memory service + compose)
# runs in tmux; keys are typed with send-keys and the screen is read with capture-pane.
# Checks: on the first start, with the memory service still indexing the whole Python
# docs (11k chunks, a minute or more), ghost text appears after a typed sentence; Tab
# accepts it; Ctrl+S saves it; after a kill -9 the unsaved text is offered back and restored. Hermetic: every file
# it writes is under a temporary folder, but for the model cache (HYBRIDRAG_CACHE_DIR, else the
# user's, as in scripts/run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sources=/usr/share/doc/python3.11/html/_sources
command -v tmux >/dev/null || { echo "tmux_smoke: tmux is not installed (apt-get install tmux)" >&2; exit 2; }
[ -d "$sources" ] || { echo "tmux_smoke: $sources missing (apt-get install python3.11-doc)" >&2; exit 2; }

work="$(mktemp -d)"
session="hybridrag-smoke-$$"
tmux() { command tmux -L "$session" "$@"; }  # a private tmux server: it starts with this script's environment
cleanup() {
    tmux kill-server 2>/dev/null || true
    pkill -f -- "--data-dir $work/" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
file="$work/draft.txt"
typed="Python is an easy to learn, powerful programming"
export HYBRIDRAG_CONFIG="$work/absent.toml" HYBRIDRAG_COMPOSE__RECOVERY_DIR="$work/recovery" \
    HYBRIDRAG_CLIENT__DATA_DIR="$work/client" HYBRIDRAG_COMPOSE__AUTOSAVE_INTERVAL_S=0.5

start() {
    tmux new-session -d -s "$session" -x 120 -y 30 \
        "cd '$root' && .venv/bin/python scripts/local_session.py '$file' --corpus '$sources' --data-dir '$work/cloud/'; echo 'session ended'; sleep 600"
}
screen() { tmux capture-pane -p -t "$session"; }
fail() {
    echo "tmux_smoke: FAILED: $1" >&2
    echo "--- screen:" >&2; screen >&2 || true
    echo "--- server log:" >&2; tail -20 "$work/cloud/server.log" >&2 || true
    exit 1
}
wait_for() {  # wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds
    local what="$1" seconds="$2"; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
        sleep 0.2
    done
}
on_screen() { screen | grep -qF -- "$1"; }
ghost_after_typed() {  # the line with the typed text goes on past it: the ghost text
    screen | grep -F -- "$typed" | grep -qE -- "$typed[^ ]*[ ,.]*[A-Za-z]"
}
ghost_while_indexing() {  # one screen shows both: the suggestion did not wait for the memory service
    local shown
    shown="$(screen)"
    grep -F -- "$typed" <<<"$shown" | grep -qE -- "$typed[^ ]*[ ,.]*[A-Za-z]" || return 1
    grep -qF "cloud indexing" <<<"$shown" || fail "indexing ended before the ghost text came: use a larger corpus"
}

start
wait_for "the TUI's status bar" 120 on_screen "KV q8q4"
wait_for "the memory service's indexing progress" 60 on_screen "cloud indexing"
tmux send-keys -t "$session" -l "$typed"
wait_for "ghost text after the typed sentence" 60 ghost_while_indexing
echo "tmux_smoke: ghost text shown while the memory service was still indexing"
tmux send-keys -t "$session" Tab
tmux send-keys -t "$session" C-s
wait_for "the file to be saved" 30 test -s "$file"
saved="$(cat "$file")"
[ "${#saved}" -gt "${#typed}" ] && [ "${saved#"$typed"}" != "$saved" ] || fail "saved text is not the typed text plus the suggestion: '$saved'"
echo "tmux_smoke: ghost text shown, accepted with Tab, saved: '$saved'"

tmux send-keys -t "$session" -l " Unsaved words"
recovered() { grep -qF "Unsaved words" "$work"/recovery/*.recovery.json 2>/dev/null; }
wait_for "the autosave" 30 recovered
pkill -9 -f -- "client.cli compose $file" || fail "no compose process to kill"
wait_for "the session to end after the kill" 60 on_screen "session ended"  # the launcher stopped its server
tmux kill-session -t "$session"
[ "$(cat "$file")" = "$saved" ] || fail "the kill changed the saved file"
start
wait_for "the offer to restore" 120 on_screen "Restore"
tmux send-keys -t "$session" r
wait_for "the restored text" 30 on_screen "Unsaved words"
tmux send-keys -t "$session" C-s
wait_for "the restored text to be saved" 30 grep -qF "Unsaved words" "$file"
tmux send-keys -t "$session" C-q
echo "tmux_smoke: after kill -9 the unsaved text was offered back, restored and saved"
echo "tmux_smoke: ok"
