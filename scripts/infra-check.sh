#!/usr/bin/env bash
# infra-check: checks infra/ offline, with the real tools.
#
#   scripts/infra-check.sh          build what is missing, then check
#   scripts/infra-check.sh tools    only build what is missing (CI warm-up)
#   scripts/infra-check.sh check    only check (fails if a tool is missing)
#
# No Terraform/OpenTofu registry and no GitHub download is reachable here, so
# every tool is built from the Go module proxy, once, into a cache outside
# the repository ($SPRESPONDER_CACHE, default ~/.cache/spresponder):
#
#   bin/tofu-<v>, bin/tflint-<v>, bin/tfsec-<v>
#   tofu-mirror/registry.opentofu.org/hashicorp/azurerm/<v>/linux_amd64/...
#
# The azurerm provider is the expensive one (about 9 min and 4.7 GB peak on
# 2 cores): builds run one at a time, under nice, and behind a lock so two
# checks started together (a fresh clone next to the worktree) never build
# the same thing twice. A tool is rebuilt only when its file is missing; a
# version bump here changes the file name, so it is rebuilt then too.
#
# Nothing is written into the repository: tofu init/validate run on a copy of
# infra/ in a scratch directory (the lock file they would write pins the
# hashes of our locally built provider, which would not match a registry
# download, so it must never be committed by accident).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE="${SPRESPONDER_CACHE:-$HOME/.cache/spresponder}"
BIN="$CACHE/bin"
MIRROR="$CACHE/tofu-mirror"

TOFU_VERSION=v1.12.6
TFLINT_VERSION=v0.61.0
TFSEC_VERSION=v1.26.0
# The proxy serves azurerm's main branch only (its v2+ tags lack a /vN module
# path, so Go ignores them): pin main at a commit whose version/VERSION file
# and CHANGELOG top say 5.2.0 (commit fae58079, 2026-08-24, four days after
# the 5.2.0 release). It is installed into the mirror as 5.2.0, the version
# the source itself declares.
AZURERM_MODULE_VERSION=v1.44.1-0.20260824201233-fae580791926
AZURERM_VERSION=5.2.0

TOFU="$BIN/tofu-$TOFU_VERSION"
TFLINT="$BIN/tflint-$TFLINT_VERSION"
TFSEC="$BIN/tfsec-$TFSEC_VERSION"
PLATFORM="$(go env GOOS)_$(go env GOARCH)"
AZURERM_DIR="$MIRROR/registry.opentofu.org/hashicorp/azurerm/$AZURERM_VERSION/$PLATFORM"
AZURERM="$AZURERM_DIR/terraform-provider-azurerm_v$AZURERM_VERSION"
# The stamp records which source the mirrored binary was built from, so a new
# AZURERM_MODULE_VERSION with the same declared version still rebuilds.
AZURERM_STAMP="$AZURERM_DIR/.built-from"

# The scratch copy of infra/ (see check), removed however the script ends.
WORK=
trap 'rm -rf "${WORK:-}"' EXIT

log() { printf 'infra-check: %s\n' "$*" >&2; }

# timed NAME CMD...: runs CMD and says how long it took.
timed() {
	local name=$1 start=$SECONDS
	shift
	"$@"
	log "$name: $((SECONDS - start)) s"
}

# module_dir MODULE@VERSION: downloads a module's source into the module cache
# and prints its directory.
module_dir() {
	# Outside any module, so the repository's go.mod is never consulted.
	(cd "$CACHE/tmp" && GOFLAGS= go mod download -json "$1") |
		sed -n 's/^[[:space:]]*"Dir": "\([^"]*\)".*/\1/p'
}

# build_module_main MODULE VERSION PKG OUT [LDFLAGS]: builds a main package of
# a module from a writable copy of its source. `go install m@v` refuses
# modules whose go.mod has replace directives (OpenTofu's does), and the
# module cache itself is read-only, so we build inside a scratch copy.
build_module_main() {
	local mod=$1 ver=$2 pkg=$3 out=$4 ldflags=${5:-} src scratch
	src=$(module_dir "$mod@$ver")
	[ -n "$src" ] || { log "cannot download $mod@$ver"; return 1; }
	scratch=$(mktemp -d "$CACHE/tmp/build.XXXXXX")
	cp -r "$src/." "$scratch/"
	chmod -R u+w "$scratch"
	(cd "$scratch" && CGO_ENABLED=0 nice -n 19 go build -trimpath -buildvcs=false \
		-ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
	rm -rf "$scratch"
	mv -f "$out.tmp" "$out"
}

# go_install PKG VERSION OUT: `go install` into a scratch GOBIN, then moves the
# binary to its versioned name.
go_install() {
	local pkg=$1 ver=$2 out=$3 gobin
	gobin=$(mktemp -d "$CACHE/tmp/gobin.XXXXXX")
	CGO_ENABLED=0 GOBIN="$gobin" nice -n 19 go install -trimpath "$pkg@$ver"
	mv -f "$gobin/$(basename "$pkg")" "$out"
	rm -rf "$gobin"
}

build_tools() {
	mkdir -p "$BIN" "$CACHE/tmp" "$MIRROR"
	# One builder at a time, machine-wide for this cache: the second caller
	# waits, then finds the binaries present and builds nothing.
	exec 9>"$CACHE/.infra-build.lock"
	flock 9
	if [ ! -x "$AZURERM" ] || [ "$(cat "$AZURERM_STAMP" 2>/dev/null)" != "$AZURERM_MODULE_VERSION" ]; then
		log "building hashicorp/azurerm $AZURERM_VERSION from $AZURERM_MODULE_VERSION (about 9 min, 4.7 GB, once)"
		mkdir -p "$AZURERM_DIR"
		timed "azurerm build" build_module_main github.com/hashicorp/terraform-provider-azurerm \
			"$AZURERM_MODULE_VERSION" . "$AZURERM" \
			"-X github.com/hashicorp/terraform-provider-azurerm/version.ProviderVersion=$AZURERM_VERSION"
		echo "$AZURERM_MODULE_VERSION" >"$AZURERM_STAMP"
	fi
	if [ ! -x "$TOFU" ]; then
		log "building OpenTofu $TOFU_VERSION (about 3.5 min, once)"
		timed "tofu build" build_module_main github.com/opentofu/opentofu "$TOFU_VERSION" ./cmd/tofu "$TOFU"
	fi
	if [ ! -x "$TFLINT" ]; then
		log "building tflint $TFLINT_VERSION (once)"
		timed "tflint build" go_install github.com/terraform-linters/tflint "$TFLINT_VERSION" "$TFLINT"
	fi
	if [ ! -x "$TFSEC" ]; then
		log "building tfsec $TFSEC_VERSION (once)"
		timed "tfsec build" go_install github.com/aquasecurity/tfsec/cmd/tfsec "$TFSEC_VERSION" "$TFSEC"
	fi
	flock -u 9
}

check() {
	local t
	for t in "$TOFU" "$TFLINT" "$TFSEC" "$AZURERM"; do
		[ -x "$t" ] || { log "missing $t: run scripts/infra-check.sh tools"; return 1; }
	done

	# Every tofu run reads the project's CLI config, never the user's.
	export TF_CLI_CONFIG_FILE="$ROOT/scripts/infra-check.tfrc"
	export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
	unset TF_PLUGIN_CACHE_DIR

	log "tofu fmt"
	"$TOFU" fmt -check -recursive -diff infra

	# The KQL behind the workbook and the alert rules, parsed and bound by
	# Microsoft's Kusto language service (npm, pinned in tools/kqlcheck)
	# against the Application Insights tables: the portal would otherwise be
	# the first to see a typo.
	log "kqlcheck infra/queries"
	[ -d tools/kqlcheck/node_modules/@kusto/language-service-next ] ||
		(cd tools/kqlcheck && npm ci --no-audit --no-fund --loglevel=error)
	node tools/kqlcheck/check.js infra/queries/*.kql

	# A scratch copy of infra/ next to a link to the provider mirror: the CLI
	# config the project keeps (scripts/infra-check.tfrc) names the mirror by a
	# path relative to the working directory, because tofu expands no
	# environment variables in provider_installation paths and the cache
	# lives in each user's home.
	WORK=$(mktemp -d)
	(cd infra && tar --exclude=.terraform --exclude=.terraform.lock.hcl -cf - .) | tar -xf - -C "$WORK"
	ln -s "$MIRROR" "$WORK/.tofu-mirror"
	log "tofu init + validate + test (azurerm $AZURERM_VERSION schema, mocked provider for tests)"
	(
		cd "$WORK"
		"$TOFU" init -backend=false -input=false -no-color >init.log 2>&1 || { cat init.log; exit 1; }
		"$TOFU" validate -no-color
		"$TOFU" test -no-color
		"$TOFU" test -no-color -test-directory=tests/example -var-file=example.tfvars
	)

	log "tflint $TFLINT_VERSION"
	"$TFLINT" --chdir=infra --var-file=example.tfvars --no-color --format=compact

	log "tfsec $TFSEC_VERSION"
	"$TFSEC" infra --tfvars-file infra/example.tfvars --no-color --no-module-downloads \
		--exclude-downloaded-modules --concise-output
}

case "${1:-all}" in
tools) timed "tools" build_tools ;;
check) timed "check" check ;;
all)
	timed "tools" build_tools
	timed "check" check
	;;
*)
	echo "usage: $0 [tools|check]" >&2
	exit 2
	;;
esac
