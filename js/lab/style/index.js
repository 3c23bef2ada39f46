// The panel's styles: xterm's stylesheet, the terminal chrome shared with the widget, ours.
import "@xterm/xterm/css/xterm.css";
import "../../src/terminal.css";
import "./index.css";
