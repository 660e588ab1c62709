// The browser side of a console: the WebSocket to Wukong, with the ticket offered as a
// subprotocol (never in the address), handed to noVNC or xterm.js. Both libraries come from
// the site's own /console-assets and are imported only once a console page opens, so that
// no other page loads them.

const ASSETS = "/console-assets";

function openSocket(path, ticket) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url, ["wukong.console", `wukong.ticket.${ticket}`]);
  socket.binaryType = "arraybuffer";
  return socket;
}

// The page's CSP nonce: xterm.js adds <style> elements of its own, which the policy admits
// only with it. The attribute reads empty once the page has loaded; the property does not.
function pageNonce() {
  return document.querySelector("script[nonce]")?.nonce ?? "";
}

let novnc;
function loadNovnc() {
  novnc ??= Promise.all([
    import(`${ASSETS}/novnc/core/rfb.js`),
    import(`${ASSETS}/novnc/core/input/keysym.js`),
    import(`${ASSETS}/novnc/core/input/keysymdef.js`),
    import(`${ASSETS}/novnc/core/util/logging.js`),
  ]).then(([rfb, keysym, keysymdef, logging]) => {
    // Wukong's status line says why a console closed; noVNC's own log would only repeat it
    // on the browser's console.
    logging.initLogging("none");
    return { RFB: rfb.default, keys: keysym.default, keysyms: keysymdef.default };
  });
  return novnc;
}

// Resolves once the stylesheet at `href` applies: the terminal measures its cells as it opens.
function loadStylesheet(href) {
  return new Promise((resolve, reject) => {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    link.addEventListener("load", resolve);
    link.addEventListener("error", reject);
    document.head.append(link);
  });
}

let xterm;
function loadXterm() {
  xterm ??= Promise.all([
    import(`${ASSETS}/xterm/xterm.mjs`),
    import(`${ASSETS}/xterm/addon-fit.mjs`),
    loadStylesheet(`${ASSETS}/xterm/xterm.css`),
  ]).then(([core, fit]) => ({ Terminal: core.Terminal, FitAddon: fit.FitAddon }));
  return xterm;
}

// Key combinations a browser would keep for itself or the local desktop, by the name the
// page offers them under: [keysym name, key code] pressed in order, released in reverse.
const COMBOS = {
  "ctrl-alt-delete": [["XK_Control_L", "ControlLeft"], ["XK_Alt_L", "AltLeft"], ["XK_Delete", "Delete"]],
  "ctrl-alt-backspace": [["XK_Control_L", "ControlLeft"], ["XK_Alt_L", "AltLeft"], ["XK_BackSpace", "Backspace"]],
  "ctrl-alt-f1": [["XK_Control_L", "ControlLeft"], ["XK_Alt_L", "AltLeft"], ["XK_F1", "F1"]],
  "ctrl-alt-f2": [["XK_Control_L", "ControlLeft"], ["XK_Alt_L", "AltLeft"], ["XK_F2", "F2"]],
  "ctrl-alt-f7": [["XK_Control_L", "ControlLeft"], ["XK_Alt_L", "AltLeft"], ["XK_F7", "F7"]],
  "alt-tab": [["XK_Alt_L", "AltLeft"], ["XK_Tab", "Tab"]],
  "alt-f4": [["XK_Alt_L", "AltLeft"], ["XK_F4", "F4"]],
  "super": [["XK_Super_L", "MetaLeft"]],
  "print": [["XK_Print", "PrintScreen"]],
  "escape": [["XK_Escape", "Escape"]],
};

// Keyboard layouts for typing pasted text: each row is the physical keys (by their code) and
// what they type plain, with Shift and with AltGr (a space where the key types nothing).
// The guest's own layout turns the keys back into the same characters.
const ROW_DIGITS = "Backquote Digit1 Digit2 Digit3 Digit4 Digit5 Digit6 Digit7 Digit8 Digit9 Digit0 Minus Equal";
const ROW_TOP = "KeyQ KeyW KeyE KeyR KeyT KeyY KeyU KeyI KeyO KeyP BracketLeft BracketRight Backslash";
const ROW_HOME = "KeyA KeyS KeyD KeyF KeyG KeyH KeyJ KeyK KeyL Semicolon Quote";
const ROW_BOTTOM = "KeyZ KeyX KeyC KeyV KeyB KeyN KeyM Comma Period Slash";
const LAYOUTS = {
  us: {
    rows: [
      [ROW_DIGITS, "`1234567890-=", "~!@#$%^&*()_+"],
      [ROW_TOP, "qwertyuiop[]\\", "QWERTYUIOP{}|"],
      [ROW_HOME, "asdfghjkl;'", 'ASDFGHJKL:"'],
      [ROW_BOTTOM, "zxcvbnm,./", "ZXCVBNM<>?"],
    ],
    dead: "",
  },
  de: {
    rows: [
      [ROW_DIGITS, "^1234567890ß´", '°!"§$%&/()=?`', "  ²³   {[]}\\ "],
      [ROW_TOP.replace(" Backslash", ""), "qwertzuiopü+", "QWERTZUIOPÜ*", "@ €        ~"],
      [`${ROW_HOME} Backslash`, "asdfghjklöä#", "ASDFGHJKLÖÄ'"],
      [`IntlBackslash ${ROW_BOTTOM}`, "<yxcvbnm,.-", ">YXCVBNM;:_", "|      µ   "],
    ],
    // Keys that wait for the next one; a space after them types the character itself.
    dead: "^´`",
  },
};
const SHIFT = ["XK_Shift_L", "ShiftLeft"];
const ALTGR = ["XK_ISO_Level3_Shift", "AltRight"];
const CONTROL_KEYS = { "\n": ["XK_Return", "Enter"], "\t": ["XK_Tab", "Tab"], " ": ["XK_space", "Space"] };

// character → [code, modifier or null], for one layout.
function keyMap(layout) {
  const map = new Map();
  for (const [codes, ...levels] of LAYOUTS[layout].rows) {
    const keys = codes.split(" ");
    levels.forEach((characters, level) => {
      [...characters].forEach((character, index) => {
        if (character !== " " && !map.has(character)) {
          map.set(character, [keys[index], [null, SHIFT, ALTGR][level]]);
        }
      });
    });
  }
  return map;
}

// What both kinds of console share: where they show, whom they tell.
class Console {
  constructor(target, onConnect, onClose) {
    this.target = target;
    this.onConnect = onConnect;
    this.onClose = onClose;
    this.socket = null;
  }

  fullScreen() {
    this.target.requestFullscreen?.().then(() => this.focus(), () => {});
  }

  // Ends the connection as the page goes.
  dispose() {
    this.disconnect();
  }
}

export function vncConsole(target, onConnect, onClose) {
  return new VncConsole(target, onConnect, onClose);
}

export function serialConsole(target, onConnect, onClose) {
  return new SerialConsole(target, onConnect, onClose);
}

class VncConsole extends Console {
  constructor(target, onConnect, onClose) {
    super(target, onConnect, onClose);
    this.rfb = null;
    this.fit = true;
    // noVNC's canvas is out of the tab order; the screen's frame is in it and hands focus on.
    target.tabIndex = 0;
    target.addEventListener("focus", (event) => {
      if (event.target === target) this.focus();
    });
  }

  // Opens a new connection with `ticket`; reports the screen shown, or the close code. The
  // socket opens only once noVNC is loaded: the server speaks first.
  connect(path, ticket) {
    this.disconnect();
    const attempt = {};
    this.attempt = attempt;
    loadNovnc().then(({ RFB, keys, keysyms }) => {
      if (this.attempt !== attempt) return;
      this.keys = keys;
      this.keysyms = keysyms;
      const socket = openSocket(path, ticket);
      this.socket = socket;
      socket.addEventListener("close", (event) => {
        if (this.socket === socket) {
          this.socket = null;
          this.onClose(event.code, event.reason);
        }
      });
      // The last screen stays up while reconnecting, until the new one replaces it.
      this.target.replaceChildren();
      const rfb = new RFB(this.target, socket, { shared: true });
      rfb.scaleViewport = this.fit;
      rfb.focusOnClick = true;
      // Around a screen narrower than the page: the frame's black, not noVNC's grey.
      rfb.background = "transparent";
      rfb.addEventListener("connect", () => {
        if (this.socket === socket) this.onConnect();
      });
      this.rfb = rfb;
    }, () => {
      // The libraries could not be fetched: given up like a dropped connection.
      if (this.attempt === attempt) this.onClose(1006, "");
    });
  }

  // Closes the connection without reporting it: the page chose to.
  disconnect() {
    const { rfb, socket } = this;
    this.attempt = null;
    this.rfb = null;
    this.socket = null;
    if (socket) rfb.disconnect();
  }

  setFit(fit) {
    this.fit = fit;
    if (this.rfb) this.rfb.scaleViewport = fit;
  }

  focus() {
    this.rfb?.focus();
  }

  sendCombo(name) {
    const keys = (COMBOS[name] ?? []).map(([keysym, code]) => [this.keys[keysym], code]);
    if (!this.rfb || keys.length === 0) return;
    keys.forEach(([keysym, code]) => this.rfb.sendKey(keysym, code, true));
    keys.reverse().forEach(([keysym, code]) => this.rfb.sendKey(keysym, code, false));
    this.rfb.focus();
  }

  // Types `text` key by key as a keyboard with `layout` would; characters the layout has no
  // key for go as bare keysyms, which most VNC servers still map.
  typeText(text, layout) {
    const rfb = this.rfb;
    if (!rfb || !LAYOUTS[layout]) return;
    const map = keyMap(layout);
    const { dead } = LAYOUTS[layout];
    const press = (keysym, code) => rfb.sendKey(keysym, code);
    for (const character of text.replace(/\r\n?/g, "\n")) {
      const control = CONTROL_KEYS[character];
      if (control) {
        press(this.keys[control[0]], control[1]);
        continue;
      }
      const keysym = this.keysyms.lookup(character.codePointAt(0));
      const [code, modifier] = map.get(character) ?? [null, null];
      if (modifier) rfb.sendKey(this.keys[modifier[0]], modifier[1], true);
      press(keysym, code);
      if (modifier) rfb.sendKey(this.keys[modifier[0]], modifier[1], false);
      if (dead.includes(character)) press(this.keys.XK_space, "Space");
    }
    rfb.focus();
  }
}

// Larger pastes are sent in pieces: Wukong refuses single messages over 64 KiB.
const SEND_PIECE = 16 * 1024;

class SerialConsole extends Console {
  constructor(target, onConnect, onClose) {
    super(target, onConnect, onClose);
    this.encoder = new TextEncoder();
    this.ready = loadXterm().then((libraries) => this.open(libraries));
  }

  // One terminal for the page's lifetime, so that its scrollback outlives reconnects.
  open({ Terminal, FitAddon }) {
    const terminal = new Terminal({ scrollback: 10000, cursorBlink: true, convertEol: false });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    const nonce = pageNonce();
    const create = document.createElement;
    document.createElement = function (tag, options) {
      const element = create.call(this, tag, options);
      if (String(tag).toLowerCase() === "style") element.nonce = nonce;
      return element;
    };
    try {
      terminal.open(this.target);
    } finally {
      delete document.createElement;
    }
    terminal.onData((data) => this.send(data));
    this.resizer = new ResizeObserver(() => fit.fit());
    this.resizer.observe(this.target);
    fit.fit();
    this.terminal = terminal;
  }

  send(data) {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const bytes = this.encoder.encode(data);
    for (let start = 0; start < bytes.length; start += SEND_PIECE) {
      socket.send(bytes.subarray(start, start + SEND_PIECE));
    }
  }

  connect(path, ticket) {
    this.disconnect();
    const socket = openSocket(path, ticket);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.ready.then(() => {
        if (this.socket !== socket) return;
        this.onConnect();
        this.terminal.focus();
      });
    });
    socket.addEventListener("message", (event) => {
      this.ready.then(() => {
        if (this.socket === socket) this.terminal.write(new Uint8Array(event.data));
      });
    });
    socket.addEventListener("close", (event) => {
      if (this.socket === socket) {
        this.socket = null;
        this.onClose(event.code, event.reason);
      }
    });
    this.ready.catch(() => {
      if (this.socket !== socket) return;
      this.socket = null;
      socket.close();
      this.onClose(1006, "");
    });
  }

  disconnect() {
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
  }

  // Ends the terminal as the page goes.
  dispose() {
    super.dispose();
    this.ready.then(() => {
      this.resizer.disconnect();
      this.terminal.dispose();
    });
  }

  focus() {
    this.terminal?.focus();
  }

  copySelection() {
    const text = this.terminal?.getSelection() ?? "";
    if (text) navigator.clipboard?.writeText(text);
    this.focus();
  }

  pasteClipboard() {
    navigator.clipboard?.readText().then((text) => this.terminal?.paste(text), () => {});
  }
}
