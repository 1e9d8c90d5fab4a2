namespace Loop.Timers;

/// <summary>
/// The loop's timers: a slab of timer records reused through a free list, and a 4-ary
/// min-heap of (deadline, slot) ordered by deadline and then by scheduling sequence, so equal
/// deadlines fire in the order they were scheduled. Loop thread only.
/// </summary>
/// <remarks>
/// <para>
/// Nothing is allocated per timer: a <see cref="TimeoutHandle"/> is a (slot, generation) value,
/// and a slot returns to the free list as soon as its timer runs or leaves the heap. With
/// 200,000 live timers, one object per timer cost more in garbage collection (promoting them
/// all) than the heap itself (TimerBenchmarks).
/// </para>
/// <para>
/// Removal is O(1) and lazy (Tornado's): the record is cleared and its heap entry stays until it
/// reaches the top or <see cref="Compact"/> drops it. Heap entries carry the deadline, so
/// sifting never leaves the heap's own array; four children per node make the tree half as
/// deep as a binary heap and put a node's children in one or two cache lines.
/// </para>
/// </remarks>
internal sealed class TimerTable
{
    private const int Log2Arity = 2;
    private const int Arity = 1 << Log2Arity;

    private Record[] _records = new Record[64];
    private int[] _free = new int[64];
    private int _freeCount;
    private int _slotsUsed;

    // Slots handed out and not yet freed: in the heap, set aside by a pass, or being run.
    private int _slotsTaken;

    private Entry[] _heap = new Entry[64];
    private int _heapCount;
    private int _cancelledInHeap;
    private long _sequence;

    /// <summary>Entries in the heap, live or cancelled.</summary>
    internal int HeapCount => _heapCount;

    /// <summary>Timers scheduled and neither run nor removed.</summary>
    internal int LiveCount => _heapCount - _cancelledInHeap;

    /// <summary>The sequence number the next timer will get minus one: every timer scheduled so far is at or below it.</summary>
    internal long NewestSequence => _sequence;

    internal TimeoutHandle Add(long deadline, object callback, object? state)
    {
        int slot = _freeCount > 0 ? _free[--_freeCount] : NewSlot();
        _slotsTaken++;
        ref Record record = ref _records[slot];
        int generation = record.Generation + 1;
        if (generation <= 0)
        {
            generation = 1;
        }

        record.Generation = generation;
        record.Callback = callback;
        record.State = state;
        record.Sequence = ++_sequence;
        record.InHeap = true;
        Push(new Entry(deadline, slot));
        return new TimeoutHandle(this, slot, generation, deadline);
    }

    internal bool IsPending(int slot, int generation)
    {
        ref Record record = ref _records[slot];
        return record.Generation == generation && record.Callback is not null;
    }

    /// <summary>Cancels a timer if <paramref name="handle"/> still names a pending one.</summary>
    internal void Remove(in TimeoutHandle handle)
    {
        ref Record record = ref _records[handle.Slot];
        if (record.Generation != handle.Generation || record.Callback is null)
        {
            return;
        }

        record.Callback = null;
        record.State = null;

        // The slot is freed when its entry leaves the heap, or, for a timer a pass has set
        // aside (see IOLoop.RunDueTimers), when the pass hands it back through Restore.
        if (record.InHeap)
        {
            _cancelledInHeap++;
            if (_cancelledInHeap > 512 && _cancelledInHeap > _heapCount >> 1)
            {
                Compact();
            }
        }
    }

    /// <summary>
    /// Takes the earliest timer off the heap if it is due at <paramref name="now"/>, dropping
    /// cancelled entries on the way. Returns false when the earliest live timer is not due.
    /// </summary>
    internal bool TryTakeDue(long now, out int slot, out long deadline)
    {
        while (_heapCount > 0 && _heap[0].Deadline <= now)
        {
            deadline = _heap[0].Deadline;
            slot = PopSlot();
            ref Record record = ref _records[slot];
            record.InHeap = false;
            if (record.Callback is null)
            {
                _cancelledInHeap--;
                FreeSlot(slot);
                continue;
            }

            return true;
        }

        slot = -1;
        deadline = 0;
        return false;
    }

    internal long SequenceOf(int slot) => _records[slot].Sequence;

    /// <summary>Empties a taken slot for running its timer: returns the callback and frees the slot.</summary>
    internal object Release(int slot, out object? state)
    {
        ref Record record = ref _records[slot];
        object callback = record.Callback!;
        state = record.State;
        record.Callback = null;
        record.State = null;
        FreeSlot(slot);
        return callback;
    }

    /// <summary>Puts a taken (set-aside) slot back on the heap, or frees it if it was cancelled meanwhile.</summary>
    internal void Restore(int slot, long deadline)
    {
        ref Record record = ref _records[slot];
        if (record.Callback is null)
        {
            FreeSlot(slot);
            return;
        }

        record.InHeap = true;
        Push(new Entry(deadline, slot));
    }

    /// <summary>The earliest live deadline, dropping cancelled entries at the top.</summary>
    internal bool TryPeekDeadline(out long deadline)
    {
        while (_heapCount > 0)
        {
            int slot = _heap[0].Slot;
            if (_records[slot].Callback is not null)
            {
                deadline = _heap[0].Deadline;
                return true;
            }

            PopSlot();
            _records[slot].InHeap = false;
            _cancelledInHeap--;
            FreeSlot(slot);
        }

        deadline = 0;
        return false;
    }

    /// <summary>Drops every cancelled entry and restores the heap in O(n).</summary>
    internal void Compact()
    {
        Entry[] heap = _heap;
        int kept = 0;
        for (int i = 0; i < _heapCount; i++)
        {
            int slot = heap[i].Slot;
            if (_records[slot].Callback is null)
            {
                _records[slot].InHeap = false;
                FreeSlot(slot);
            }
            else
            {
                heap[kept++] = heap[i];
            }
        }

        _heapCount = kept;
        _cancelledInHeap = 0;
        for (int i = (kept - 2) >> Log2Arity; i >= 0; i--)
        {
            SiftDown(i, heap[i]);
        }
    }

    /// <summary>Forgets every timer; outstanding handles stop being pending.</summary>
    internal void Clear()
    {
        for (int i = 0; i < _slotsUsed; i++)
        {
            ref Record record = ref _records[i];
            record.Callback = null;
            record.State = null;
            record.InHeap = false;
        }

        _heapCount = 0;
        _cancelledInHeap = 0;
        _freeCount = 0;
        _slotsUsed = 0;
        _slotsTaken = 0;
    }

    private int NewSlot()
    {
        if (_slotsUsed == _records.Length)
        {
            Array.Resize(ref _records, _records.Length * 2);
            Array.Resize(ref _free, _records.Length);
        }

        return _slotsUsed++;
    }

    private void FreeSlot(int slot)
    {
        if (--_slotsTaken == 0)
        {
            // Every slot is free: hand them out from 0 again, in order, rather than in the order
            // they were freed. New timers then fill the records sequentially instead of touching
            // a cold cache line each (with 200,000 timers, scheduling took 3× as long). Records
            // keep their generations, so old handles stay stale.
            _freeCount = 0;
            _slotsUsed = 0;
            return;
        }

        _free[_freeCount++] = slot;
    }

    private bool IsBefore(in Entry a, in Entry b) =>
        a.Deadline < b.Deadline || (a.Deadline == b.Deadline && _records[a.Slot].Sequence < _records[b.Slot].Sequence);

    private void Push(Entry entry)
    {
        if (_heapCount == _heap.Length)
        {
            Array.Resize(ref _heap, _heapCount * 2);
        }

        SiftUp(_heapCount++, entry);
    }

    private int PopSlot()
    {
        Entry[] heap = _heap;
        int slot = heap[0].Slot;
        int last = --_heapCount;
        if (last > 0)
        {
            SiftDown(0, heap[last]);
        }

        return slot;
    }

    private void SiftUp(int index, Entry entry)
    {
        Entry[] heap = _heap;
        while (index > 0)
        {
            int parent = (index - 1) >> Log2Arity;
            if (!IsBefore(entry, heap[parent]))
            {
                break;
            }

            heap[index] = heap[parent];
            index = parent;
        }

        heap[index] = entry;
    }

    private void SiftDown(int index, Entry entry)
    {
        Entry[] heap = _heap;
        int count = _heapCount;
        while (true)
        {
            int first = (index << Log2Arity) + 1;
            if (first >= count)
            {
                break;
            }

            int best = first;
            int end = Math.Min(first + Arity, count);
            for (int child = first + 1; child < end; child++)
            {
                if (IsBefore(heap[child], heap[best]))
                {
                    best = child;
                }
            }

            if (!IsBefore(heap[best], entry))
            {
                break;
            }

            heap[index] = heap[best];
            index = best;
        }

        heap[index] = entry;
    }

    /// <summary>One timer. <see cref="Callback"/> is null when the slot is free, fired or cancelled.</summary>
    private struct Record
    {
        public object? Callback;
        public object? State;
        public long Sequence;
        public int Generation;
        public bool InHeap;
    }

    /// <summary>A heap entry: the deadline beside the slot, so sifting compares without leaving the array.</summary>
    private readonly struct Entry(long deadline, int slot)
    {
        public readonly long Deadline = deadline;
        public readonly int Slot = slot;
    }
}
