#!/bin/sh
# Debian packages the test suite needs: Chromium (browser tests) and fonts with Vietnamese glyphs.
set -e
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need="$need fonts-dejavu-core"
# pdftotext / pdftoppm: the procedures tests read the Vietnamese text back from the generated PDFs.
command -v pdftotext >/dev/null 2>&1 || need="$need poppler-utils"
if [ -n "$need" ]; then
  echo "Installing system packages:$need"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $need
fi
