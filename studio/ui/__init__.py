"""The studio's Gradio tabs, one file per tab; common.py turns a job's events into what a tab shows.

Gradio reads GRADIO_ANALYTICS_ENABLED when it is imported; every tab module imports it through this
package, so the studio never phones home (it must work with no network at all).
"""
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
