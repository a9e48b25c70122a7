"""An indexed max-heap of vertices (numba), the priority queue of the k-way FM pass.

FM applies the best feasible move again and again; scanning every vertex × part for it
costs O(n·k) a move, O(n²·k) a pass, which made ``multilevel`` grow as V^1.6. Kept in a
heap, the best move costs O(log n) to find, and a move only re-keys the pins of the
nets whose counts it changed. Priority: the larger ``key`` (a km1 gain), ties to the
smaller ``rank`` (the vertex's place in the pass's random order), so the heap picks
exactly the move the full scan picked.

The heap is three arrays: ``heap`` (vertices, heap-ordered), ``pos`` (each vertex's
index in ``heap``, −1 when absent) and ``size`` (one element, so kernels can change it).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def _above(a, b, key, rank):
    return key[a] > key[b] or (key[a] == key[b] and rank[a] < rank[b])


@njit(cache=True)
def _sift_up(heap, pos, i, key, rank):
    v = heap[i]
    while i > 0:
        parent = (i - 1) >> 1
        u = heap[parent]
        if not _above(v, u, key, rank):
            break
        heap[i] = u
        pos[u] = i
        i = parent
    heap[i] = v
    pos[v] = i


@njit(cache=True)
def _sift_down(heap, pos, size, i, key, rank):
    v = heap[i]
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and _above(heap[child + 1], heap[child], key, rank):
            child += 1
        u = heap[child]
        if not _above(u, v, key, rank):
            break
        heap[i] = u
        pos[u] = i
        i = child
    heap[i] = v
    pos[v] = i


@njit(cache=True)
def place(heap, pos, size, v, key, rank):
    """Insert ``v``, or restore the heap order after ``key[v]`` changed."""
    if pos[v] < 0:
        heap[size[0]] = v
        pos[v] = size[0]
        size[0] += 1
    _sift_up(heap, pos, pos[v], key, rank)
    _sift_down(heap, pos, size[0], pos[v], key, rank)


@njit(cache=True)
def remove(heap, pos, size, v, key, rank):
    """Take ``v`` out (no-op when absent)."""
    i = pos[v]
    if i < 0:
        return
    pos[v] = -1
    size[0] -= 1
    if i == size[0]:
        return
    last = heap[size[0]]
    heap[i] = last
    pos[last] = i
    _sift_up(heap, pos, i, key, rank)
    _sift_down(heap, pos, size[0], pos[last], key, rank)
