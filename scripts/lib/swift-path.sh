# Sourced by the scripts: puts Swift on PATH when it is not (sudo's secure_path drops /opt/swift/usr/bin).
# SWIFT_BIN names the folder when Swift lives elsewhere.
if ! command -v swift >/dev/null 2>&1; then
    for dir in "${SWIFT_BIN:-}" /opt/swift/usr/bin /usr/share/swift/usr/bin /usr/local/swift/usr/bin; do
        if [ -n "$dir" ] && [ -x "$dir/swift" ]; then
            export PATH="$dir:$PATH"
            break
        fi
    done
fi
