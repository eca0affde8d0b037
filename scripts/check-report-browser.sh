#!/usr/bin/env bash
# Opens a generated report.html in headless Chromium at a laptop's 1400 px and checks, through the DOM, that no
# element is wider than the window (the page never scrolls sideways) and that clicking a heading sorts the pairs
# (names in natural order, both directions; numbers with undefined last), then takes a screenshot.
# Says "skipped" without Chromium (scripts/setup.sh --with-browser installs Debian's).
#   VAE_DIST=path/to/vae-dist  (default: this checkout's debug build)
#   SCREENSHOT=report.png      (default: a temporary folder; its path is printed)
#   CHROMIUM=path/to/chromium  (default: chromium or chromium-browser on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

browser="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$browser" ]; then
    echo "check-report-browser: skipped (no chromium; scripts/setup.sh --with-browser installs it)"
    exit 0
fi
bin="${VAE_DIST:-$(swift build --show-bin-path)/vae-dist}"
[ -x "$bin" ] || { echo "check-report-browser: $bin is missing: run swift build or set VAE_DIST" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
shot="${SCREENSHOT:-$(mktemp -d)/report.png}"

# Twelve pairs named as users number files: a text sort would put "benign (10)" before "benign (2)".
"$bin" synth-data --output "$work/phantoms" --count 1 --pairs 12 --img_size 64 --seed 0 >/dev/null 2>&1
expected=()
for i in $(seq 1 12); do
    case_name="$(printf 'case_%04d.png' "$i")"
    for folder in positive negative masks; do
        mv "$work/phantoms/pairs/$folder/$case_name" "$work/phantoms/pairs/$folder/benign ($i).png"
    done
    expected+=("\"benign ($i)\"")
done
"$bin" analyze-folder --folder "$work/phantoms/pairs" --allow_random_weights --config configs/demo-small.yaml \
    --img_size 64 --method both --bootstrap 200 --threads 1 --output "$work/analysis" >"$work/analyze.log" 2>&1 \
    || { cat "$work/analyze.log" >&2; echo "check-report-browser: analyze-folder failed" >&2; exit 1; }
report="$work/analysis/batch/report.html"

# The checks run in the page after it loads and write their verdict into the title, which --dump-dom returns.
checks="$(cat <<EOF
<script>
(function () {
  var problems = [], width = document.documentElement.clientWidth, expected = [$(IFS=,; echo "${expected[*]}")];
  if (window.innerWidth !== 1400) problems.push('the window is ' + window.innerWidth + ' px wide, not 1400');
  if (document.documentElement.scrollWidth > width) problems.push('the page scrolls sideways to ' + document.documentElement.scrollWidth + ' px');
  var outside = function (element) {
    var box = element.getBoundingClientRect();
    // Not shown (a closed <details>) is not outside.
    return !(box.width === 0 && box.height === 0) && (box.left < -0.5 || box.right > width + 0.5);
  };
  // Content may be wider than a box that scrolls sideways inside the window: only the box must fit.
  var scrolled = function (element) {
    for (var box = element.parentElement; box && box !== document.body; box = box.parentElement) {
      if (['auto', 'scroll'].indexOf(getComputedStyle(box).overflowX) >= 0) return true;
    }
    return false;
  };
  // Each element outside the window whose parent is inside: the outermost culprits, not all their contents.
  var culprits = Array.from(document.querySelectorAll('body *')).filter(function (element) {
    return outside(element) && !outside(element.parentElement) && !scrolled(element);
  });
  var table = document.getElementById('pairs'), box = table.parentElement;
  if (getComputedStyle(box).overflowX !== 'auto') problems.push('the pairs table is not in a box that scrolls sideways');
  var fits = box.scrollWidth <= box.clientWidth ? 'the pairs table fits' : 'the pairs table scrolls in its box';
  culprits.slice(0, 10).forEach(function (element) {
    var box = element.getBoundingClientRect();
    problems.push('<' + element.tagName.toLowerCase() + (element.id ? '#' + element.id : '') + '> spans '
                  + Math.round(box.left) + '..' + Math.round(box.right) + ' px of ' + width);
  });
  if (culprits.length > 10) problems.push('and ' + (culprits.length - 10) + ' more elements outside the window');
  var rows = function () { return Array.from(document.querySelectorAll('#pairs tbody tr')); };
  var names = function () { return rows().map(function (row) { return row.dataset.pair; }).join(' | '); };
  var sorted = function (th) { return th.getAttribute('aria-sort'); };
  var nameHeading = document.querySelector('#pairs th button.sort[data-col="0"]').closest('th');
  var expect = function (what, got, wanted) { if (got !== wanted) problems.push(what + ': got ' + got + ', expected ' + wanted); };
  expect('rows as written', names(), expected.join(' | '));
  expect('arrow as written', sorted(nameHeading), 'ascending');
  nameHeading.querySelector('button').click();
  expect('rows after one click on "pair"', names(), expected.slice().reverse().join(' | '));
  expect('arrow after one click', sorted(nameHeading), 'descending');
  nameHeading.querySelector('button').click();
  expect('rows after two clicks on "pair"', names(), expected.join(' | '));
  expect('arrow after two clicks', sorted(nameHeading), 'ascending');
  var numeric = document.querySelector('#pairs th button.sort[data-type="num"]'), column = +numeric.dataset.col;
  numeric.click();
  var values = rows().map(function (row) { return parseFloat(row.cells[column].dataset.v); });
  for (var i = 1; i < values.length; i++) {
    if (values[i] < values[i - 1]) problems.push('column ' + column + ' is not ascending at row ' + (i + 1));
  }
  expect('arrow of the clicked number column', sorted(numeric.closest('th')), 'ascending');
  expect('arrow of "pair" after another column was sorted', sorted(nameHeading), null);
  document.title = problems.length ? 'FAIL: ' + problems.join('; ') : 'PASS ' + rows().length + ' rows, ' + fits;
})();
</script>
EOF
)"
page="$work/check.html"
{ sed 's#</body></html>##' "$report"; printf '%s\n</body></html>\n' "$checks"; } >"$page"

run_browser() {
    # Headless Chromium as root needs --no-sandbox; a profile of its own keeps runs apart.
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
        --user-data-dir="$work/profile" "$@" 2>>"$work/chromium.log"
}
verdict="$(run_browser --window-size=1400,900 --dump-dom "file://$page" | sed -n 's:.*<title>\(.*\)</title>.*:\1:p' | head -1)"
case "$verdict" in
    PASS*) echo "check-report-browser: $verdict: nothing wider than 1400 px, natural sort both ways, numbers ascending" ;;
    "") echo "check-report-browser: no verdict from chromium:" >&2; tail -5 "$work/chromium.log" >&2; exit 1 ;;
    *) echo "check-report-browser: $verdict" | sed 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&amp;/\&/g' >&2; exit 1 ;;
esac
run_browser --window-size=1400,6000 --screenshot="$shot" "file://$report" >/dev/null
[ -s "$shot" ] || { echo "check-report-browser: no screenshot written" >&2; exit 1; }
echo "check-report-browser: screenshot of the report at 1400 px: $shot"
