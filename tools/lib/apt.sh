# Sourced by the setup scripts: installs the Debian packages of a list that are not
# installed yet (sudo when not root). Returns 0 when it installed any, 1 when none
# was missing.
#
#   install_missing LABEL PACKAGE...
install_missing() {
  local label=$1 missing=() p sudo=""
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 1
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing${label:+ $label}: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
