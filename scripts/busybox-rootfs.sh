#!/bin/sh
# Builds a tiny root filesystem from Debian's busybox-static: the image every example and test
# uses, so nothing needs the internet. Usage: scripts/busybox-rootfs.sh DIR
set -eu
dir=${1:?usage: $0 DIR}
bb=$(command -v busybox || echo /bin/busybox)
[ -x "$bb" ] || { echo "busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/var/www" "$dir/root" "$dir/home"
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
done
cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/sh
P
cat > "$dir/etc/group" <<'G'
root:x:0:
www-data:x:33:
nogroup:x:65534:
G
