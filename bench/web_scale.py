"""The dashboard at scale, in headless Chromium (bench/web-scale.sh).

Usage: web_scale.py URL EVENTS NODES GENERATE_CMD...
Opens the page at 1280x800, waits for NODES node rows, then runs
GENERATE_CMD (which makes the nodes emit events) until the page holds
EVENTS events, measuring meanwhile how long the page's main thread takes
to answer (a round trip of a trivial script, every 0.2 s). Then times
what a user does with that many events: a text filter, a node filter,
and clearing both (each until the page has drawn it). Prints one line of
figures, key=value. Exits 1 with the reason if a wait passes its
deadline."""
import os, statistics, subprocess, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

url, want, nodes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
generate = sys.argv[4:]

def fail(why):
    print("FAIL: " + why, file=sys.stderr)
    driver.quit()
    sys.exit(1)

def wait(secs, what, check):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    fail("within %d s: %s" % (secs, what))

options = Options()
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,800"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_window_size(1280, 800)
driver.set_page_load_timeout(60)
t0 = time.monotonic()
driver.get(url)
wait(60, "%d node rows" % nodes,
     lambda: len(driver.find_elements(By.CSS_SELECTOR, "tr[id^=node-row-]")) >= nodes)
first_view = time.monotonic() - t0

#  Events come in while the main thread's answers are timed.
latencies = []
gen = None
deadline = time.monotonic() + 600
while driver.execute_script("return state.events.length") < want:
    if time.monotonic() > deadline:
        fail("the page did not reach %d events within 600 s" % want)
    if gen is None or gen.poll() is not None:
        gen = subprocess.Popen(generate, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.monotonic()
    driver.execute_script("return 1")
    latencies.append((time.monotonic() - t) * 1000)
    time.sleep(0.2)
if gen and gen.poll() is None:
    gen.wait()
kept = driver.execute_script("return state.events.length")
shown = driver.execute_script("return document.querySelectorAll('#events li').length")

def timed(script):
    """ms the page takes to run script and render (two animation frames)."""
    return driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const t = performance.now();
        %s
        requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t)));
    """ % script)

text_ms = timed("""const i = document.getElementById('event-text'); i.value = 'throttle';
                   i.dispatchEvent(new Event('input'));""")
node_ms = timed("""const s = document.getElementById('event-node'); s.value = 'b';
                   s.dispatchEvent(new Event('input'));""")
clear_ms = timed("""const i = document.getElementById('event-text'); i.value = '';
                    i.dispatchEvent(new Event('input'));
                    const s = document.getElementById('event-node'); s.value = '';
                    s.dispatchEvent(new Event('input'));""")
heap = driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : 0")
if os.environ.get("DLB_WEB_SCALE_SHOT"):
    driver.save_screenshot(os.environ["DLB_WEB_SCALE_SHOT"])
print("nodes=%d events_kept=%d events_drawn=%d first_view_s=%.2f "
      "main_thread_ms_median=%.1f main_thread_ms_p95=%.1f main_thread_ms_max=%.1f "
      "filter_text_ms=%.1f filter_node_ms=%.1f clear_ms=%.1f js_heap_mb=%.1f samples=%d"
      % (nodes, kept, shown, first_view, statistics.median(latencies),
         sorted(latencies)[int(0.95 * (len(latencies) - 1))], max(latencies),
         text_ms, node_ms, clear_ms, heap / 2**20, len(latencies)))
driver.quit()
