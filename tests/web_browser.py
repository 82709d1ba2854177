"""Drives the dlb-web dashboard in headless Chromium (tests/test_web.sh).

Usage: web_browser.py URL DLBCTL NODE_B_FILE NODE_A_FILE OUT_DIR
Opens the page at 1280x800, waits for both nodes, moves node b's throttle
slider and checks with `dlbctl status --json` that b's throttle changed,
submits a workload through the form, waits for it to show "verified",
saves screenshots (start, middle, end) and one at phone size. Every wait
has a deadline. Exits 0 on success, 1 with the reason on failure."""
import json, subprocess, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

url, dlbctl, node_b, node_a, out = sys.argv[1:6]

def fail(why):
    print("FAIL: " + why, file=sys.stderr)
    try:
        driver.save_screenshot(out + "/web-failure.png")
        for entry in driver.get_log("browser")[:10]:
            print("browser: %s" % entry, file=sys.stderr)
    except Exception:
        pass
    driver.quit()
    sys.exit(1)

def wait(secs, what, check):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception:
            pass
        time.sleep(0.1)
    fail("within %d s: %s" % (secs, what))

def throttle_of(node_file, name):
    status = json.loads(subprocess.check_output([dlbctl, "--timeout", "5", "--node", node_file, "status", "--json"]))
    return [n for n in status["nodes"] if n["node"] == name][0]["throttle"]

options = Options()
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,800", "--hide-scrollbars"):
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_window_size(1280, 800)
driver.set_page_load_timeout(30)
driver.get(url)

print("web: the page shows both nodes")
wait(30, "rows for nodes a and b", lambda: driver.find_element(By.ID, "node-row-a") and driver.find_element(By.ID, "node-row-b"))
wait(30, "both nodes live", lambda: all("live" in driver.find_element(By.ID, "node-row-" + n).text for n in "ab"))
wait(30, "the pending-jobs chart has a history", lambda: driver.execute_script("return state.samples.length") >= 3)
driver.execute_script("window.scrollTo(0, 0)")
driver.save_screenshot(out + "/web-start.png")

print("web: node b's throttle slider")
before = throttle_of(node_b, "b")
slider = driver.find_element(By.CSS_SELECTOR, "#node-row-b .throttle-slider")
width = slider.size["width"]
# Drag the thumb to about a fifth of the range (from wherever it is).
ActionChains(driver).move_to_element_with_offset(slider, -width // 2 + width // 5, 0).click().perform()
after = wait(30, "dlbctl status shows b's new throttle", lambda: (lambda t: t if abs(t - before) > 0.01 else None)(throttle_of(node_b, "b")))
if not 0.1 <= after <= 0.45:
    fail("b's throttle went from %g to %g, expected about 0.25" % (before, after))
print("web: b's throttle %g -> %g" % (before, after))
wait(30, "the page shows b's new throttle", lambda: abs(float(driver.find_element(By.CSS_SELECTOR, "#node-row-b .throttle-value").text) - after) < 0.01)
wait(20, "the throttle change in the event list", lambda: "throttle of b" in driver.find_element(By.ID, "events").text)

print("web: submit a workload through the form")
for field, value in (("elements", "262144"), ("jobs", "128"), ("reps", "60000"), ("output", "web-result.npy")):
    box = driver.find_element(By.ID, "submit-" + field)
    box.clear()
    box.send_keys(value)
driver.find_element(By.ID, "submit-button").click()
text = wait(30, "the form says the workload started", lambda: (lambda t: t if t.startswith("started ") else None)(driver.find_element(By.ID, "submit-result").text))
wid = text.split()[1]
print("web: workload " + wid)
row = wait(30, "the workload's row", lambda: driver.find_element(By.ID, "workload-" + wid))
wait(60, "the workload runs with progress", lambda: "running" in row.text and driver.execute_script(
    "const w = document.querySelector('#workload-%s .bar div'); return parseFloat(w.style.width) > 0" % wid))
driver.save_screenshot(out + "/web-middle.png")
wait(240, "the workload shows verified", lambda: row.find_element(By.CLASS_NAME, "verified").text == "verified")
wait(20, "the completion in the event list", lambda: ("workload %s complete" % wid) in driver.find_element(By.ID, "events").text)
ran = row.find_element(By.CLASS_NAME, "ran").text
print("web: verified; ran " + ran)
driver.save_screenshot(out + "/web-end.png")

print("web: event filter by node")
driver.find_element(By.ID, "event-node").send_keys("b")
wait(10, "only node b's events", lambda: all(li.find_element(By.CLASS_NAME, "node").text == "b"
                                            for li in driver.find_elements(By.CSS_SELECTOR, "#events li")))

print("web: phone-sized window")
driver.set_window_size(390, 844)
wait(10, "the layout follows the narrow window", lambda: driver.execute_script("return document.documentElement.clientWidth") <= 400)
overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
if overflow > 2:
    fail("the page is %d px wider than a phone's window" % overflow)
driver.execute_script("window.scrollTo(0, 0)")
driver.save_screenshot(out + "/web-phone.png")
errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
if errors:
    fail("errors in the browser's console: %s" % errors[:5])
driver.quit()
print("web: browser checks passed")
