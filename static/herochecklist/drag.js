// Reordering by drag and drop. A row dropped on the upper half of another goes before it, on the lower half after
// it, so every place can be reached, the last one included. (Alt+Up / Alt+Down on the handle does the same by keyboard.)

export function makeDraggable(row, id, onDrop) {
  const after = (e) => {
    const box = row.getBoundingClientRect();
    return e.clientY > box.top + box.height / 2;
  };
  const clear = () => row.classList.remove("hc-over", "hc-over-after");
  row.draggable = true;
  row.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData("text/plain", id);
    e.dataTransfer.effectAllowed = "move";
    row.classList.add("hc-dragging");
  });
  row.addEventListener("dragend", () => row.classList.remove("hc-dragging"));
  row.addEventListener("dragover", (e) => {
    e.preventDefault();
    const below = after(e);
    row.classList.toggle("hc-over-after", below);
    row.classList.toggle("hc-over", !below);
  });
  row.addEventListener("dragleave", clear);
  row.addEventListener("drop", (e) => {
    e.preventDefault();
    clear();
    onDrop(e.dataTransfer.getData("text/plain"), id, after(e));
  });
}

// The new order of ids with `dragged` put before or after `target`; null when nothing would change.
export function reorderedIds(ids, dragged, target, after) {
  if (dragged === target || !ids.includes(dragged) || !ids.includes(target)) return null;
  const rest = ids.filter((i) => i !== dragged);
  rest.splice(rest.indexOf(target) + (after ? 1 : 0), 0, dragged);
  return rest.join() === ids.join() ? null : rest;
}
