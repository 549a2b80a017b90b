// Strings of peer-to-peer file transfer (English and Simplified Chinese).

export const en = {
  "p2p.send": "Send directly (peer-to-peer)",
  "p2p.connecting": "Connecting directly…",
  "p2p.sending": "Sending directly: {name}",
  "p2p.receiving": "Receiving directly: {name}",
  "p2p.received": "Received directly — check the file, then save it",
  "p2p.failed": "Direct transfer failed",
  "p2p.save": "Save",
  "p2p.dismiss": "Dismiss",
  "p2p.fallback": "Could not connect directly — uploading instead",
  "p2p.history": "sent directly (not stored on the server)",
  "p2p.preview": "[File] {name} (sent directly)",
};

export const zh: Record<keyof typeof en, string> = {
  "p2p.send": "直接发送（点对点）",
  "p2p.connecting": "正在建立直连…",
  "p2p.sending": "正在直接发送：{name}",
  "p2p.receiving": "正在直接接收：{name}",
  "p2p.received": "已直接收到（校验通过），可以保存",
  "p2p.failed": "直传失败",
  "p2p.save": "保存",
  "p2p.dismiss": "关闭",
  "p2p.fallback": "无法直连，改为上传",
  "p2p.history": "直接发送（未存储在服务器上）",
  "p2p.preview": "[文件] {name}（直传）",
};
